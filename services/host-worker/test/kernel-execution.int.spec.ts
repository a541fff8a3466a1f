import type { GvisorKernelSandbox } from '../src/sandbox/gvisor-kernel-sandbox';
import type { JupyterMessage } from '../src/jupyter/messages';
import { startKernel } from './gvisor-kernel-fixture';

jest.setTimeout(120_000);

describe('a Python kernel in a gVisor sandbox, over the stdio relay', () => {
  let sandbox: GvisorKernelSandbox;

  beforeAll(async () => {
    ({ sandbox } = await startKernel());
  });
  afterAll(async () => {
    await sandbox?.terminate();
  });

  it('x = 41; x + 1 gives execute_result 42', async () => {
    const { reply, outputs } = await sandbox.client.execute('x = 41\nx + 1');
    expect(reply.status).toBe('ok');
    const result = outputs.find((o) => o.header.msg_type === 'execute_result');
    expect(result?.content.data).toEqual({ 'text/plain': '42' });
  });

  it('streams print output as it is printed (first line before the cell ends)', async () => {
    const arrivals: { text: string; at: number }[] = [];
    const t0 = Date.now();
    const { reply, ms } = await sandbox.client.execute(
      'import time\nfor i in range(5):\n    print("line", i, flush=True)\n    time.sleep(0.3)',
      {
        onIopub: (m) => {
          if (m.header.msg_type === 'stream')
            arrivals.push({ text: String(m.content.text), at: Date.now() - t0 });
        },
      },
    );
    expect(reply.status).toBe('ok');
    expect(arrivals.map((a) => a.text).join('')).toBe('line 0\nline 1\nline 2\nline 3\nline 4\n');
    expect(ms).toBeGreaterThan(1200);
    expect(arrivals[0]!.at).toBeLessThan(ms - 900); // the first line came ~1.2 s before the end
  });

  it('matplotlib and display(Image) give image/png', async () => {
    const { outputs } = await sandbox.client.execute(
      'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.show()\nfrom IPython.display import Image, display\nimport base64\n' +
        'png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")\ndisplay(Image(png))',
    );
    const images = outputs.filter(
      (o) => o.header.msg_type === 'display_data' && (o.content.data as Record<string, string>)['image/png'],
    );
    expect(images).toHaveLength(2);
    for (const img of images)
      expect((img.content.data as Record<string, string>)['image/png']).toMatch(/^iVBORw0KGgo/);
  });

  it('an exception gives an error with its traceback', async () => {
    const { reply, outputs } = await sandbox.client.execute('def f():\n    return 1 / 0\nf()');
    expect(reply.status).toBe('error');
    const err = outputs.find((o) => o.header.msg_type === 'error') as JupyterMessage;
    expect(err.content.ename).toBe('ZeroDivisionError');
    // eslint-disable-next-line no-control-regex
    const plain = (err.content.traceback as string[]).join('\n').replace(/\u001b\[[0-9;]*m/g, '');
    expect(plain).toMatch(
      /Cell In\[\d+\], line 3[\s\S]*----> 3 f\(\)[\s\S]*line 2, in f\(\)[\s\S]*return 1 \/ 0/,
    );
  });

  it('input() round-trips through stdin', async () => {
    const prompts: string[] = [];
    const { outputs } = await sandbox.client.execute('name = input("Your name? ")\nprint("hello", name)', {
      onInput: async (prompt) => {
        prompts.push(prompt);
        return 'Ada';
      },
    });
    expect(prompts).toEqual(['Your name? ']);
    expect(
      outputs
        .filter((o) => o.header.msg_type === 'stream')
        .map((o) => o.content.text)
        .join(''),
    ).toBe('hello Ada\n');
  });

  it('answers the heartbeat', async () => {
    expect(await sandbox.client.heartbeat()).toBe(true);
  });

  it('interrupts `while True: pass` within 1 s, keeping the variables', async () => {
    const running = sandbox.client.execute('kept = "still here"\nwhile True:\n    pass');
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    const how = await sandbox.interruptOrKill(2000);
    const { reply } = await running;
    const ms = Date.now() - t0;
    expect(how).toBe('interrupted');
    expect(reply.status).toBe('error');
    expect(reply.ename).toBe('KeyboardInterrupt');
    expect(ms).toBeLessThan(1000);
    const after = await sandbox.client.execute('kept');
    expect(after.outputs.find((o) => o.header.msg_type === 'execute_result')?.content.data).toEqual({
      'text/plain': "'still here'",
    });
  });

  it('force-terminates a C-level busy loop that ignores interrupts, then serves a fresh kernel', async () => {
    // Catastrophic regex backtracking: runs in C holding the GIL, never checks for signals.
    const running = sandbox.client.execute('import re\nre.match(r"(a+)+$", "a" * 64 + "b")');
    await new Promise((r) => setTimeout(r, 500));
    const how = await sandbox.interruptOrKill(1500);
    expect(how).toBe('killed');
    await expect(running).rejects.toThrow(/force-terminated/);
    const after = await sandbox.client.execute('1 + 1');
    expect(after.outputs.find((o) => o.header.msg_type === 'execute_result')?.content.data).toEqual({
      'text/plain': '2',
    });
  });
});
