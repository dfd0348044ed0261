/**
 * The built-in component factories. To add a component, import its factory and
 * append it to this list; the registry checks types are unique at start-up.
 */
import type { Factory } from '../core/component.ts';
import { debugExporterFactory } from '../exporters/debug/debug.ts';
import { otlpExporterFactory } from '../exporters/otlp/factory.ts';
import { prometheusExporterFactory } from '../exporters/prometheus/factory.ts';
import { servicemapExporterFactory } from '../exporters/servicemap/factory.ts';
import { k8sAttributesProcessorFactory } from '../processors/k8s_attributes/factory.ts';
import { ebpfSocketReceiverFactory } from '../receivers/ebpf_socket/factory.ts';

export const builtinFactories: Factory[] = [
  debugExporterFactory,
  prometheusExporterFactory,
  ebpfSocketReceiverFactory,
  otlpExporterFactory,
  k8sAttributesProcessorFactory,
  servicemapExporterFactory,
];
