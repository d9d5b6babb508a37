export * from "./LocalSource.js"
export * from "./LocalStore.js"
