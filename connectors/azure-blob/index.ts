export * from "./AzureBlobSource.js"
export * from "./AzureBlobStore.js"
