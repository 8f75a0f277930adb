/** The groups figures (filled in by the groups work). */
import type { Figure } from './figures.ts';

export const groupsFigures: Figure[] = [];
