/**
 * What every GAN plugin checks of its options against the data, before anything is built
 * (`ModelPlugin.check`, run by `exp validate` and before a run exists): images where the
 * architecture needs them, labels for conditional models, an output activation that reaches
 * the data range, DiffAugment only on images. `create` refuses the same things through the
 * helpers below, so a config that validates never fails on its data at step 0.
 */
import { type CheckIssue, type DataInfo, UserError } from '@genlab/core';
import { outputIssue, type outputSchema } from './output.js';
import type { z } from 'zod';

/** What a GAN architecture needs of the data. */
export interface GanNeeds {
  /** Images [H, W, C] whose sides divide by this (the number of 2× up/downsamplings). */
  images?: number;
  /** Class labels (at least two classes). */
  classes?: boolean;
}

/** The issues of a GAN's options on `data`; `output` is the generator's output activation option. */
export function ganIssues(
  name: string,
  cfg: { diffAugment: string[]; generator?: { output?: z.infer<typeof outputSchema> } },
  data: DataInfo,
  needs: GanNeeds,
): CheckIssue[] {
  const issues: CheckIssue[] = [];
  if (needs.images) {
    const why = imagesIssue(name, data.shape, needs.images);
    if (why) issues.push({ message: why });
  }
  if (needs.classes) {
    const why = classesIssue(name, data.numClasses);
    if (why) issues.push({ message: why });
  }
  const output = cfg.generator?.output ?? 'auto';
  const why = outputIssue(output, data.range);
  if (why) issues.push({ path: 'generator.output', message: why });
  if (cfg.diffAugment.length && data.shape.length !== 3) {
    issues.push({ path: 'diffAugment', message: `DiffAugment (${cfg.diffAugment.join(', ')}) transforms images; the data has shape [${data.shape.join(', ')}]: set diffAugment: []` });
  }
  return issues;
}

function imagesIssue(name: string, shape: number[], k: number): string | undefined {
  if (shape.length !== 3 || shape[0]! % k !== 0 || shape[1]! % k !== 0) {
    return `${name} needs images [H, W, C] with H and W divisible by ${k}, the data has shape [${shape.join(', ')}]: use gan/mlp for other data`;
  }
  return undefined;
}

function classesIssue(name: string, numClasses: number): string | undefined {
  if (numClasses < 2) return `${name} is class-conditional and needs labelled data (the dataset has ${numClasses === 0 ? 'no labels' : '1 class'}): use an unconditional model, or a labelled dataset`;
  return undefined;
}

/** Throw (a UserError) unless the data are images whose sides divide by `k`; their [H, W, C]. */
export function requireImages(name: string, shape: number[], k: number): [number, number, number] {
  const why = imagesIssue(name, shape, k);
  if (why) throw new UserError(why);
  return shape as [number, number, number];
}

/** Throw (a UserError) unless the data have class labels; the number of classes. */
export function requireClasses(name: string, numClasses: number): number {
  const why = classesIssue(name, numClasses);
  if (why) throw new UserError(why);
  return numClasses;
}
