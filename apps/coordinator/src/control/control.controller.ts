import { Body, Controller, Delete, Get, HttpCode, HttpException, Inject, Param, Post, UseGuards } from '@nestjs/common';
import { FedlinkError, parseMessage } from '@fedlink/protocol';
import { AdminGuard } from './guards.js';
import { Persistence } from './persistence.js';
import { RunControl, RunControlError } from './run-control.js';
import { CreateTokenSchema, RunSettingsPatchSchema } from './schemas.js';

/** Turns domain errors into HTTP replies with the same `{ ok: false, error }` shape as acks. */
function http<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw toHttp(e);
  }
}

/** The same for a store that may answer asynchronously (PostgreSQL's). */
async function httpAsync<T>(f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw toHttp(e);
  }
}

function toHttp(e: unknown): unknown {
  if (e instanceof RunControlError) return new HttpException({ ok: false, error: e.toWire() }, e.status);
  if (e instanceof FedlinkError) return new HttpException({ ok: false, error: e.toWire() }, e.code === 'bad_request' ? 400 : 403);
  if (e instanceof RangeError) return new HttpException({ ok: false, error: { code: 'bad_request', message: e.message } }, 400);
  return e;
}

/** Run control and join-token management: admin token required. */
@Controller('api')
@UseGuards(AdminGuard)
export class ControlController {
  constructor(
    @Inject(RunControl) private readonly control: RunControl,
    @Inject(Persistence) private readonly persistence: Persistence,
  ) {}

  @Post('runs')
  @HttpCode(202)
  startRun(@Body() body: unknown): object {
    return http(() => ({ ok: true, ...this.control.start(parseMessage(RunSettingsPatchSchema, body ?? {}, 'run settings')) }));
  }

  @Post('runs/:id/stop')
  @HttpCode(202)
  stopRun(@Param('id') id: string): object {
    return http(() => ({ ok: true, ...this.control.stop(id) }));
  }

  @Get('tokens')
  async listTokens(): Promise<object> {
    return { ok: true, tokens: await this.tokenStore().list() };
  }

  @Post('tokens')
  @HttpCode(201)
  async createToken(@Body() body: unknown): Promise<object> {
    return httpAsync(async () => {
      const o = parseMessage(CreateTokenSchema, body ?? {}, 'token request');
      const t = await this.tokenStore().create({
        ...(o.ttlMs !== undefined ? { ttlMs: o.ttlMs } : {}),
        ...(o.uses !== undefined ? { maxUses: o.uses } : {}),
        ...(o.label !== undefined ? { label: o.label } : {}),
      });
      return { ok: true, ...t };
    });
  }

  @Delete('tokens/:id')
  async revokeToken(@Param('id') id: string): Promise<object> {
    if (!(await this.tokenStore().revoke(id))) throw new HttpException({ ok: false, error: { code: 'bad_request', message: `no token ${id}` } }, 404);
    return { ok: true, id, state: 'revoked' };
  }

  private tokenStore() {
    const t = this.persistence.tokens;
    if (!t) throw new HttpException({ ok: false, error: { code: 'bad_request', message: 'join tokens need persistent state (this coordinator runs in memory)' } }, 501);
    return t;
  }
}
