import { OUTPUT_REF_MIME } from '@quire/contracts';
import { outputView } from '../src/outputs/output-model';

describe('output model', () => {
  it('prefers html over plain text', () => {
    const v = outputView({
      output_type: 'execute_result',
      data: { 'text/plain': '<DataFrame>', 'text/html': ['<table>', '</table>'] },
      metadata: {},
      execution_count: 1,
    });
    expect(v).toEqual({ kind: 'html', html: '<table></table>' });
  });

  it('shows a matplotlib png as an image with its repr as alt text', () => {
    const v = outputView({
      output_type: 'display_data',
      data: { 'image/png': 'iVBORw0KGgo=\n', 'text/plain': '<Figure size 640x480 with 1 Axes>' },
      metadata: {},
    });
    expect(v).toEqual({
      kind: 'image',
      mime: 'image/png',
      src: 'data:image/png;base64,iVBORw0KGgo=',
      alt: '<Figure size 640x480 with 1 Axes>',
    });
  });

  it('renders svg through an image data URL (scripts inside never run)', () => {
    const v = outputView({
      output_type: 'display_data',
      data: { 'image/svg+xml': '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>' },
      metadata: {},
    });
    expect(v.kind).toBe('image');
    if (v.kind === 'image') expect(v.src.startsWith('data:image/svg+xml;base64,')).toBe(true);
  });

  it('collapses a large output to a reference with its preview', () => {
    const ref = {
      url: '/api/notebooks/n1/outputs/o1',
      mime: 'text/plain',
      bytes: 5 * 1024 * 1024,
      truncated: true,
    };
    const v = outputView({
      output_type: 'display_data',
      data: { [OUTPUT_REF_MIME]: ref, 'text/plain': 'first lines…' },
      metadata: {},
    });
    expect(v).toEqual({ kind: 'ref', ref, preview: 'first lines…' });
  });

  it('ignores a malformed reference and falls back to the preview text', () => {
    const v = outputView({
      output_type: 'display_data',
      data: { [OUTPUT_REF_MIME]: { nope: true }, 'text/plain': 'preview' },
      metadata: {},
    });
    expect(v).toEqual({ kind: 'text', text: 'preview' });
  });

  it('joins multiline streams and tracebacks', () => {
    expect(outputView({ output_type: 'stream', name: 'stderr', text: ['a\n', 'b'] })).toEqual({
      kind: 'stream',
      name: 'stderr',
      text: 'a\nb',
    });
    expect(
      outputView({ output_type: 'error', ename: 'ValueError', evalue: 'x', traceback: ['l1', 'l2'] }),
    ).toEqual({ kind: 'error', ename: 'ValueError', evalue: 'x', traceback: 'l1\nl2' });
  });

  it('says what it cannot show instead of failing', () => {
    expect(
      outputView({ output_type: 'display_data', data: { 'application/x-foo': 1 }, metadata: {} }),
    ).toEqual({
      kind: 'unsupported',
      mimes: ['application/x-foo'],
    });
    expect(outputView(null)).toEqual({ kind: 'unsupported', mimes: [] });
  });
});
