export * from "./AdlsSink.js"
