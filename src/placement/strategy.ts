/**
 * The placement strategy interface, declared in the domain (its commands call it); kept under this
 * path for code that imports it from here.
 */
export type {
  PlacementInput,
  PlacementNode,
  PlacementResult,
  PlacementStrategy,
} from '../domain/placement-strategy.js';
