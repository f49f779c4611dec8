/** The version printed by --version and written into exported audit records. */
export const VERSION = '0.1.0';
