/** The sampler page `exp export --with-page` writes beside an export (static files, no build step). */
import type { ExportManifest } from '@genlab/core';

/** Write the page into the export folder `dir`, whose graphs and genlab.json are already there. */
export function writeSamplerPage(dir: string, manifest: ExportManifest): void {
  void dir;
  void manifest;
  throw new Error('the sampler page is not written yet');
}
