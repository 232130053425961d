import { type DynamicModule, Module } from '@nestjs/common';
import { ApiController } from './api/api.controller.js';
import { Admission } from './federation/admission.js';
import { ClientRegistry } from './federation/client-registry.js';
import { FederationGateway } from './federation/federation.gateway.js';
import { RoundEngine } from './federation/round-engine.js';
import { RunContext } from './federation/run-context.js';
import type { Log } from './log.js';
import { InMemoryRunStore } from './state/run-history.js';
import { LOG } from './tokens.js';
import { DashboardGateway } from './web/dashboard.gateway.js';

/** The domain objects, built by `startCoordinator` and handed to Nest as providers. */
export interface CoordinatorParts {
  context: RunContext;
  registry: ClientRegistry;
  admission: Admission;
  engine: RoundEngine;
  store: InMemoryRunStore;
  log: Log;
}

@Module({})
export class CoordinatorModule {
  static forRoot(parts: CoordinatorParts): DynamicModule {
    return {
      module: CoordinatorModule,
      controllers: [ApiController],
      providers: [
        FederationGateway,
        DashboardGateway,
        { provide: RunContext, useValue: parts.context },
        { provide: ClientRegistry, useValue: parts.registry },
        { provide: Admission, useValue: parts.admission },
        { provide: RoundEngine, useValue: parts.engine },
        { provide: InMemoryRunStore, useValue: parts.store },
        { provide: LOG, useValue: parts.log },
      ],
    };
  }
}
