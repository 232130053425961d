import type { Trainer } from '@fedlink/client';

/** `inner` with its `fit` replaced; its examples, `prepare` and `dispose` stay as they are (the simulator's fault and attack wrappers). */
export function withFit(inner: Trainer, fit: Trainer['fit']): Trainer {
  return {
    get numExamples() {
      return inner.numExamples;
    },
    prepare: (welcome) => inner.prepare(welcome),
    dispose: () => inner.dispose(),
    fit,
  };
}
