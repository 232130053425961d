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
    if (e instanceof RunControlError) throw new HttpException({ ok: false, error: e.toWire() }, e.status);
    if (e instanceof FedlinkError) throw new HttpException({ ok: false, error: e.toWire() }, e.code === 'bad_request' ? 400 : 403);
    if (e instanceof RangeError) throw new HttpException({ ok: false, error: { code: 'bad_request', message: e.message } }, 400);
    throw e;
  }
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
  listTokens(): object {
    return { ok: true, tokens: this.tokenStore().list() };
  }

  @Post('tokens')
  @HttpCode(201)
  createToken(@Body() body: unknown): object {
    return http(() => {
      const o = parseMessage(CreateTokenSchema, body ?? {}, 'token request');
      const t = this.tokenStore().create({
        ...(o.ttlMs !== undefined ? { ttlMs: o.ttlMs } : {}),
        ...(o.uses !== undefined ? { maxUses: o.uses } : {}),
        ...(o.label !== undefined ? { label: o.label } : {}),
      });
      return { ok: true, ...t };
    });
  }

  @Delete('tokens/:id')
  revokeToken(@Param('id') id: string): object {
    if (!this.tokenStore().revoke(id)) throw new HttpException({ ok: false, error: { code: 'bad_request', message: `no token ${id}` } }, 404);
    return { ok: true, id, state: 'revoked' };
  }

  private tokenStore() {
    const t = this.persistence.tokens;
    if (!t) throw new HttpException({ ok: false, error: { code: 'bad_request', message: 'join tokens need persistent state (this coordinator runs in memory)' } }, 501);
    return t;
  }
}
