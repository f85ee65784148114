/** Column readers shared by the SQLite stores: SQL NULL (or a missing column) becomes null. */
export const numberOrNull = (value: unknown) => (value === null || value === undefined ? null : Number(value));
export const stringOrNull = (value: unknown) => (value === null || value === undefined ? null : String(value));
