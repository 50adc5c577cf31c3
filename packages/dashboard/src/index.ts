/** @genlab/dashboard: `exp ui`, a local read-only web page over genlab's tracked runs. */
export { startDashboard, type Dashboard, type QueueStatusFn } from './server.js';
export { LocalSource, RemoteSource, OutsideError, checkRelative, type DashboardSource, type RunSummary, type Point } from './source.js';
