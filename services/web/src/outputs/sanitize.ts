import DOMPurify from 'dompurify';
import { marked } from 'marked';

/** Markdown → sanitised HTML (markdown cells and text/markdown outputs). */
export function markdownToSafeHtml(markdown: string): string {
  const html = marked.parse(markdown, { async: false, gfm: true, breaks: false });
  return DOMPurify.sanitize(html, { USE_PROFILES: { html: true } });
}

/**
 * text/html outputs run in a sandboxed iframe with scripts but without
 * same-origin: they cannot read the editor's cookies, storage or DOM. A small
 * script reports the content height so the frame fits it.
 */
export function htmlFrameDocument(html: string, frameId: string): string {
  const resize = `<script>(function(){function post(){parent.postMessage({quireFrame:${JSON.stringify(
    frameId,
  )},height:document.documentElement.scrollHeight},'*')}new ResizeObserver(post).observe(document.documentElement);addEventListener('load',post);post()})()</script>`;
  const style =
    '<style>body{margin:0;font:14px/1.45 system-ui,sans-serif;color:#1f2937}table{border-collapse:collapse}td,th{border:1px solid #e5e7eb;padding:4px 8px;text-align:right}th{background:#f9fafb}</style>';
  return `<!doctype html><html><head><meta charset="utf-8">${style}</head><body>${html}${resize}</body></html>`;
}
