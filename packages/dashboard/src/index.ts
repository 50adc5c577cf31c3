/** @genlab/dashboard: `exp ui`, a local read-only web page over genlab's tracked runs; and the HTTP rules `exp serve` shares. */
export { startDashboard, type Dashboard, type QueueStatusFn } from './server.js';
export { LocalSource, RemoteSource, OutsideError, checkRelative, type DashboardSource, type RunSummary, type Point } from './source.js';
export { fileInside, isLoopback, LOOPBACK_HOSTS, mimeType, startFolderServer, startHttp, type HttpOptions, type HttpServer } from './http.js';
export { EXPORTS_FILE, isExportOf, liveExports, readExportRecords, recordExport, type ExportRecord, type RunExport } from './exports.js';
