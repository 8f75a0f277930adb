/** The browser figures (filled in by the browser work). */
import type { Figure } from './figures.ts';

export const browserFigures: Figure[] = [];
