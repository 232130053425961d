import { type DynamicModule, Module } from '@nestjs/common';
import { ApiController } from './api/api.controller.js';
import { AccessPolicy } from './control/access-policy.js';
import { ControlController } from './control/control.controller.js';
import { Persistence } from './control/persistence.js';
import { RunControl } from './control/run-control.js';
import { RunsController } from './control/runs.controller.js';
import { Gatekeeper } from './federation/gatekeeper.js';
import { FederationMetrics } from './metrics/federation-metrics.js';
import { MetricsController } from './metrics/metrics.controller.js';
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
  gatekeeper: Gatekeeper;
  metrics: FederationMetrics;
  access: AccessPolicy;
  control: RunControl;
  persistence: Persistence;
}

@Module({})
export class CoordinatorModule {
  static forRoot(parts: CoordinatorParts): DynamicModule {
    return {
      module: CoordinatorModule,
      controllers: [ApiController, RunsController, ControlController, MetricsController],
      providers: [
        FederationGateway,
        DashboardGateway,
        { provide: RunContext, useValue: parts.context },
        { provide: ClientRegistry, useValue: parts.registry },
        { provide: Admission, useValue: parts.admission },
        { provide: RoundEngine, useValue: parts.engine },
        { provide: InMemoryRunStore, useValue: parts.store },
        { provide: LOG, useValue: parts.log },
        { provide: Gatekeeper, useValue: parts.gatekeeper },
        { provide: FederationMetrics, useValue: parts.metrics },
        { provide: AccessPolicy, useValue: parts.access },
        { provide: RunControl, useValue: parts.control },
        { provide: Persistence, useValue: parts.persistence },
      ],
    };
  }
}
