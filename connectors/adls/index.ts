export * from "./AdlsSource.js"
export * from "./AdlsStore.js"
