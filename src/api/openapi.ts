// `payout openapi`: print the OpenAPI document the api serves at /docs/json, without a database
// or a port: the routes alone make it. Callers generate clients from it; `npm run lint:openapi`
// lints it.
import type { Config } from '../config.ts';
import { connect } from '../db/connect.ts';
import { buildApp } from './app.ts';

export async function openApiDocument(config: Readonly<Config>): Promise<unknown> {
  // buildApp wants a pool; postgres.js connects on the first query, and building the document
  // runs none, so this one never connects anywhere.
  const sql = connect('postgres://unused@127.0.0.1:1/unused', { max: 1 });
  const app = await buildApp({ config, sql });
  try {
    await app.ready();
    return app.swagger();
  } finally {
    await app.close();
    await sql.end({ timeout: 0 });
  }
}

export async function runOpenApi(config: Readonly<Config>) {
  process.stdout.write(`${JSON.stringify(await openApiDocument(config), null, 2)}\n`);
}
