import { CompletionContext } from '@codemirror/autocomplete';
import { EditorState } from '@codemirror/state';
import {
  kernelCompletionSource,
  toCodePoints,
  toUtf16,
  type KernelAssist,
} from '../src/kernel/kernel-assist';

function fakeKernel(reply: Awaited<ReturnType<KernelAssist['complete']>>) {
  const asked: { code: string; cursorPos: number }[] = [];
  const kernel: KernelAssist = {
    complete: async (code, cursorPos) => {
      asked.push({ code, cursorPos });
      return reply;
    },
    inspect: async () => ({ found: false, text: '' }),
  };
  return { kernel, asked };
}

const at = (doc: string, explicit = false) =>
  new CompletionContext(EditorState.create({ doc }), doc.length, explicit);

describe('completions from the live kernel', () => {
  it('converts between UTF-16 offsets and the protocol’s code points', () => {
    const s = 'a😀b';
    expect(s.length).toBe(4);
    expect(toCodePoints(s, 3)).toBe(2);
    expect(toUtf16(s, 2)).toBe(3);
    expect(toUtf16(s, toCodePoints(s, 4))).toBe(4);
  });

  it('asks after `.` and inside `["`, or on Ctrl-Space — never while typing a plain word', async () => {
    const { kernel, asked } = fakeKernel({ matches: ['region'], cursorStart: 3, cursorEnd: 6, types: null });
    const source = kernelCompletionSource(() => kernel);
    expect(await source(at('x = 1'))).toBeNull();
    expect(asked).toHaveLength(0);
    await source(at('df.reg'));
    await source(at('df["am'));
    await source(at('pri', true));
    expect(asked.map((a) => a.code)).toEqual(['df.reg', 'df["am', 'pri']);
  });

  it('maps the kernel’s range and types onto the editor, with an emoji before the cursor', async () => {
    const doc = 's = "😀"; df.reg';
    const cp = [...doc].length;
    const { kernel, asked } = fakeKernel({
      matches: ['region', 'reindex'],
      cursorStart: cp - 3,
      cursorEnd: cp,
      types: ['instance', 'function'],
    });
    const result = await kernelCompletionSource(() => kernel)(at(doc));
    expect(asked[0]!.cursorPos).toBe(cp);
    expect(result).toMatchObject({
      from: doc.length - 3,
      to: doc.length,
      options: [
        { label: 'region', type: 'variable' },
        { label: 'reindex', type: 'function' },
      ],
    });
  });

  it('offers nothing — no error while typing — when there is no kernel or it cannot answer', async () => {
    expect(await kernelCompletionSource(() => null)(at('df.'))).toBeNull();
    const failing: KernelAssist = {
      complete: async () => {
        throw new Error('the kernel is not running');
      },
      inspect: async () => ({ found: false, text: '' }),
    };
    expect(await kernelCompletionSource(() => failing)(at('df.'))).toBeNull();
    const empty = fakeKernel({ matches: [], cursorStart: 3, cursorEnd: 3, types: null });
    expect(await kernelCompletionSource(() => empty.kernel)(at('df.'))).toBeNull();
  });
});
