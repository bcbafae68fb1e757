/** Connector not built yet. */
export {};
