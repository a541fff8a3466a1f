/* global process, setInterval */
// One collaborator as its own OS process: a stock y-websocket client that
// asks for durability acknowledgements (?ack=1), adds one cell of its own,
// then types numbered tokens into its cell and into the shared first cell.
// stdout protocol (one line each): READY, ACK <n> (tokens 0..n-1 are durable).
// argv: serverUrl notebookId editorIndex tokensPerSecond; env DOC_TOKEN.
import * as decoding from 'lib0/decoding';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';

const [serverUrl, notebookId, index, rate] = process.argv.slice(2);
const me = String(index).padStart(2, '0');
const doc = new Y.Doc();
const provider = new WebsocketProvider(serverUrl, notebookId, doc, {
  WebSocketPolyfill: WebSocket,
  params: { token: process.env.DOC_TOKEN, ack: '1' },
  disableBc: true,
  maxBackoffTime: 300,
});

/** clocks[k] = this client's clock right after token k (the cell insert is token 0). */
const clocks = [];
let acked = 0;
provider.messageHandlers[100] = (_enc, dec) => {
  decoding.readVarUint(dec);
  const sv = Y.decodeStateVector(decoding.readVarUint8Array(dec));
  const mine = sv.get(doc.clientID) ?? 0;
  let n = acked;
  while (n < clocks.length && clocks[n] <= mine) n++;
  if (n > acked) {
    acked = n;
    process.stdout.write(`ACK ${n}\n`);
  }
};

provider.once('sync', () => {
  const cells = doc.getArray('cells');
  doc.transact(() => {
    const cell = new Y.Map();
    cell.set('id', `editor-${me}`);
    cell.set('cell_type', 'code');
    cell.set('source', new Y.Text(''));
    cell.set('metadata', new Y.Map());
    cell.set('outputs', new Y.Array());
    cell.set('execution_count', null);
    cells.push([cell]);
  });
  clocks.push(Y.getState(doc.store, doc.clientID));
  process.stdout.write('READY\n');
  let k = 1;
  setInterval(
    () => {
      const own = cells.toArray().find((c) => c.get('id') === `editor-${me}`);
      const shared = cells.get(0);
      doc.transact(() => {
        own.get('source').insert(own.get('source').length, `${me}:${k};`);
        const s = shared.get('source');
        // Appending cannot land inside another editor's token (an insert at a random index could).
        s.insert(s.length, `<${me}:${k}>`);
      });
      clocks.push(Y.getState(doc.store, doc.clientID));
      k++;
    },
    1000 / Number(rate),
  );
});
