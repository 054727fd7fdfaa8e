// The ceiling for the api benchmark: Fastify parsing the same JSON body and answering, with no
// validation, no auth and no database.
import Fastify from 'fastify';

const app = Fastify();
let id = 0;
app.post('/api/v1/payout-by-client', async (_req, reply) => reply.code(201).send({ id: ++id }));
const port = Number(process.argv[2]);
await app.listen({ host: '127.0.0.1', port });
console.log(`listening on ${port}`);
