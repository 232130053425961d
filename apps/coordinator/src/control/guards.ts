import { type CanActivate, type ExecutionContext, HttpException, HttpStatus, Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { AccessPolicy } from './access-policy.js';

function denied(what: string): HttpException {
  return new HttpException(
    { ok: false, error: { code: 'unauthorized', message: `${what} needs the admin token: Authorization: Bearer <token from the state dir's admin-token file>` } },
    HttpStatus.UNAUTHORIZED,
  );
}

const authorization = (ctx: ExecutionContext) => ctx.switchToHttp().getRequest<Request>().headers.authorization;

/** Run control and token management. */
@Injectable()
export class AdminGuard implements CanActivate {
  constructor(@Inject(AccessPolicy) private readonly access: AccessPolicy) {}
  canActivate(ctx: ExecutionContext): boolean {
    if (this.access.isAdmin(authorization(ctx))) return true;
    throw denied('this endpoint');
  }
}

/** Read-only endpoints: public by default, admin-only with --private-status. */
@Injectable()
export class ReadGuard implements CanActivate {
  constructor(@Inject(AccessPolicy) private readonly access: AccessPolicy) {}
  canActivate(ctx: ExecutionContext): boolean {
    if (this.access.mayRead(authorization(ctx))) return true;
    throw denied('status is private on this coordinator (--private-status); this endpoint');
  }
}
