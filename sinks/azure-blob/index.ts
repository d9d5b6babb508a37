export * from "./AzureBlobSink.js"
