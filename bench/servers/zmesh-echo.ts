/** zmesh server: a node of service "echo" whose handler returns the payload. */
import { createNode } from '../../transport/index.js';

const node = createNode({ service: 'echo', host: '127.0.0.1', discovery: 'static' });
node.handle('echo', (p) => p);
await node.start();
process.send?.({ endpoint: node.endpoints.router });
process.on('SIGTERM', () => {
  void node.close().then(() => process.disconnect?.());
});
