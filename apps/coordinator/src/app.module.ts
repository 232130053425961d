import { type DynamicModule, Global, Module } from '@nestjs/common';
import { ApiController } from './api/api.controller.js';
import { AccessPolicy } from './control/access-policy.js';
import { ControlController } from './control/control.controller.js';
import { Persistence } from './control/persistence.js';
import { RunControl } from './control/run-control.js';
import { RunsController } from './control/runs.controller.js';
import { Admission } from './federation/admission.js';
import { ClientRegistry } from './federation/client-registry.js';
import { FederationGateway } from './federation/federation.gateway.js';
import { Gatekeeper } from './federation/gatekeeper.js';
import { RunContext } from './federation/run-context.js';
import type { Log } from './log.js';
import { FederationMetrics } from './metrics/federation-metrics.js';
import { MetricsController } from './metrics/metrics.controller.js';
import { ENGINE, type FederationEngine } from './rounds/engine.js';
import { ReceiveBudget } from './rounds/receive-budget.js';
import { InMemoryRunStore } from './state/run-history.js';
import { SHARED_VIEW, type SharedRunView } from './state/shared-view.js';
import { LOG } from './tokens.js';
import { DashboardGateway } from './web/dashboard.gateway.js';

/**
 * The domain objects, built by `startCoordinator` (plain classes that tests use without Nest)
 * and handed to Nest as providers, each by the feature module that owns it.
 */
export interface CoordinatorParts {
  context: RunContext;
  registry: ClientRegistry;
  admission: Admission;
  engine: FederationEngine;
  store: InMemoryRunStore;
  log: Log;
  gatekeeper: Gatekeeper;
  metrics: FederationMetrics;
  access: AccessPolicy;
  control: RunControl;
  persistence: Persistence;
  /** The update bytes held between arrival and end; the federation gateway pauses reading while it is past its limit. */
  receiveBudget: ReceiveBudget;
  /** A cluster node's view of the whole run (REST and dashboard read it); absent on a single coordinator. */
  shared?: SharedRunView;
}

/** What every feature reads: the run's facts, the log, the clients, the engine and its records, access rules. */
@Global()
@Module({})
class RunModule {
  static forRoot(p: CoordinatorParts): DynamicModule {
    const providers = [
      { provide: RunContext, useValue: p.context },
      { provide: LOG, useValue: p.log },
      { provide: ClientRegistry, useValue: p.registry },
      { provide: ENGINE, useValue: p.engine },
      { provide: InMemoryRunStore, useValue: p.store },
      { provide: AccessPolicy, useValue: p.access },
      // Connection budgets span namespaces (federation and dashboard).
      { provide: Gatekeeper, useValue: p.gatekeeper },
      { provide: SHARED_VIEW, useValue: p.shared ?? null },
    ];
    return { module: RunModule, providers, exports: providers.map((x) => x.provide) };
  }
}

/** The federation protocol's socket.io gateway: admission, limits, rounds' messages. */
@Module({})
class FederationModule {
  static forRoot(p: CoordinatorParts): DynamicModule {
    return {
      module: FederationModule,
      providers: [FederationGateway, { provide: Admission, useValue: p.admission }, { provide: ReceiveBudget, useValue: p.receiveBudget }],
    };
  }
}

/** The live dashboard feed (read-only socket.io namespace). */
@Module({ providers: [DashboardGateway] })
class WebModule {}

/** Read-only REST: status, rounds, model. */
@Module({ controllers: [ApiController] })
class ApiModule {}

/** Operator REST: run control, join tokens, past runs. */
@Module({})
class ControlModule {
  static forRoot(p: CoordinatorParts): DynamicModule {
    return {
      module: ControlModule,
      controllers: [RunsController, ControlController],
      providers: [{ provide: RunControl, useValue: p.control }, { provide: Persistence, useValue: p.persistence }],
    };
  }
}

/** Prometheus metrics at /metrics. */
@Module({})
class MetricsModule {
  static forRoot(p: CoordinatorParts): DynamicModule {
    return { module: MetricsModule, controllers: [MetricsController], providers: [{ provide: FederationMetrics, useValue: p.metrics }] };
  }
}

@Module({})
export class CoordinatorModule {
  static forRoot(parts: CoordinatorParts): DynamicModule {
    return {
      module: CoordinatorModule,
      imports: [RunModule.forRoot(parts), FederationModule.forRoot(parts), WebModule, ApiModule, ControlModule.forRoot(parts), MetricsModule.forRoot(parts)],
    };
  }
}
