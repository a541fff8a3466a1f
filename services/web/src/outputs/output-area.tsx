import { useEffect, useId, useMemo, useRef, useState } from 'react';
import type * as Y from 'yjs';
import { api } from '../api/gateway-client';
import { formatBytes } from '../ui/format-bytes';
import { outputView, type OutputView } from './output-model';
import { htmlFrameDocument, markdownToSafeHtml } from './sanitize';
import { ansiSpans } from './stream-text';

/** A cell's outputs, read live from its `outputs` Y.Array (the gateway writes them). */
export function OutputArea({ outputs }: { outputs: Y.Array<unknown> }) {
  const [items, setItems] = useState(() => outputs.toArray());
  useEffect(() => {
    const update = () => setItems(outputs.toArray());
    update();
    outputs.observeDeep(update);
    return () => outputs.unobserveDeep(update);
  }, [outputs]);
  if (items.length === 0) return null;
  return (
    <div className="outputs" aria-live="polite">
      {items.map((o, i) => (
        <Output key={i} output={o} />
      ))}
    </div>
  );
}

function Output({ output }: { output: unknown }) {
  const plain =
    output && typeof output === 'object' && 'toJSON' in output ? (output as Y.Map<unknown>).toJSON() : output;
  const view = useMemo(() => outputView(plain), [plain]);
  return <OutputViewer view={view} />;
}

export function OutputViewer({ view }: { view: OutputView }) {
  switch (view.kind) {
    case 'stream':
      return <AnsiText text={view.text} className={`output-stream ${view.name}`} />;
    case 'error':
      return (
        <div className="output-error" role="alert">
          <AnsiText text={view.traceback || `${view.ename}: ${view.evalue}`} className="output-traceback" />
        </div>
      );
    case 'text':
      return <AnsiText text={view.text} className="output-text" />;
    case 'json':
      return <pre className="output-text">{view.json}</pre>;
    case 'image':
      return <img className="output-image" src={view.src} alt={view.alt} />;
    case 'markdown':
      return (
        <div
          className="output-markdown markdown"
          dangerouslySetInnerHTML={{ __html: markdownToSafeHtml(view.markdown) }}
        />
      );
    case 'html':
      return <HtmlFrame html={view.html} />;
    case 'ref':
      return <OutputRefView view={view} />;
    case 'unsupported':
      return (
        <div className="output-note">
          {view.mimes.length
            ? `No renderer for ${view.mimes.join(', ')}`
            : 'An output the editor cannot show'}
        </div>
      );
  }
}

export function AnsiText({ text, className }: { text: string; className: string }) {
  const spans = useMemo(() => ansiSpans(text), [text]);
  return (
    <pre className={className}>
      {spans.map((s, i) => {
        const classes = [
          s.fg && `${s.fg}-fg`,
          s.bg && `${s.bg}-bg`,
          s.bold && 'ansi-bold',
          s.italic && 'ansi-italic',
          s.underline && 'ansi-underline',
          s.dim && 'ansi-dim',
        ]
          .filter(Boolean)
          .join(' ');
        const style =
          s.fgRgb || s.bgRgb
            ? {
                color: s.fgRgb ? `rgb(${s.fgRgb})` : undefined,
                background: s.bgRgb ? `rgb(${s.bgRgb})` : undefined,
              }
            : undefined;
        return classes || style ? (
          <span key={i} className={classes || undefined} style={style}>
            {s.text}
          </span>
        ) : (
          s.text
        );
      })}
    </pre>
  );
}

function HtmlFrame({ html }: { html: string }) {
  const id = useId();
  const [height, setHeight] = useState(40);
  const frame = useRef<HTMLIFrameElement>(null);
  useEffect(() => {
    const onMessage = (e: MessageEvent) => {
      // Only this frame may size itself (another output's frame could post the same shape).
      if (e.source !== frame.current?.contentWindow) return;
      const d = e.data as { quireFrame?: string; height?: number } | null;
      if (d && d.quireFrame === id && typeof d.height === 'number')
        setHeight(Math.min(4000, Math.ceil(d.height) + 4));
    };
    window.addEventListener('message', onMessage);
    return () => window.removeEventListener('message', onMessage);
  }, [id]);
  return (
    <iframe
      ref={frame}
      className="output-html"
      title="HTML output"
      sandbox="allow-scripts allow-popups"
      srcDoc={htmlFrameDocument(html, id)}
      style={{ height }}
    />
  );
}

/** A large output kept in S3: a preview, and the whole thing on request. */
function OutputRefView({ view }: { view: Extract<OutputView, { kind: 'ref' }> }) {
  const [full, setFull] = useState<OutputView | null>(null);
  const [state, setState] = useState<'idle' | 'loading' | 'error'>('idle');
  const [error, setError] = useState('');

  async function load() {
    setState('loading');
    try {
      const res = await api.fetchOutput(view.ref.url);
      const type = res.headers.get('Content-Type') ?? view.ref.mime;
      if (type.startsWith('image/')) {
        const blob = await res.blob();
        setFull({
          kind: 'image',
          mime: type,
          src: URL.createObjectURL(blob),
          alt: view.preview || 'output image',
        });
      } else if (type.includes('json')) {
        const body = (await res.json()) as unknown;
        const asOutput = body && typeof body === 'object' && 'output_type' in body ? outputView(body) : null;
        setFull(asOutput ?? { kind: 'json', json: JSON.stringify(body, null, 2) });
      } else {
        const text = await res.text();
        setFull(
          type.includes('html') ? { kind: 'html', html: text } : { kind: 'stream', name: 'stdout', text },
        );
      }
      setState('idle');
    } catch (e) {
      setError((e as Error).message);
      setState('error');
    }
  }

  if (full) return <OutputViewer view={full} />;
  return (
    <div className="output-ref">
      {view.preview && <AnsiText text={view.preview} className="output-text output-preview" />}
      <div className="output-ref-bar">
        <span>
          {view.ref.truncated ? 'Output cut at 5 MB — ' : 'Large output collapsed — '}
          {formatBytes(view.ref.bytes)}
        </span>
        <button type="button" className="link" onClick={() => void load()} disabled={state === 'loading'}>
          {state === 'loading' ? 'Loading…' : 'Show full output'}
        </button>
        {state === 'error' && <span className="error-text">Could not load it: {error}</span>}
      </div>
    </div>
  );
}
