/** The first line of a format-2 vault file (a leaf module: reading it loads no codec or crypto). */
export const HEADER_LINE_V2 = '# secrets vault, format 2. Managed by the secrets CLI; do not edit by hand.';
