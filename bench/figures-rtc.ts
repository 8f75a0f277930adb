/** The rtc figures (filled in by the rtc work). */
import type { Figure } from './figures.ts';

export const rtcFigures: Figure[] = [];
