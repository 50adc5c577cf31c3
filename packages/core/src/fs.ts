/**
 * One atomic file write for every package: the data goes to a hidden temporary file in the
 * same folder (so readers listing the folder, like MLflow, never see it) and is renamed
 * into place, so a reader sees the old file or the whole new one, never half of it; the
 * temporary file is removed if the write fails.
 */
import fs from 'node:fs';
import path from 'node:path';

export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    throw error;
  }
}
