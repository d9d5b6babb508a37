/**
 * A FAKE of the DFS endpoint of an ADLS Gen2 account, for the tests: Azurite emulates the
 * Blob endpoint only, and nothing that runs here serves the DFS one. It is a small HTTP
 * handler that implements just the DFS REST operations the ADLS sink sends, over the
 * blobs Azurite keeps, so that what the sink writes through the Blob endpoint and what
 * it renames through this one are the same files:
 *
 * - Path Create with `resource=directory`: a directory, kept as an empty blob whose
 *   metadata says `hdi_isfolder` (as a listing of a real account's Blob endpoint shows one);
 * - Path Create with `x-ms-rename-source` (mode legacy): a rename of a file or of a
 *   directory with everything in it, done as copies and deletes in Azurite, one request
 *   at a time (the real service renames a directory atomically; this fake is atomic only
 *   because it serves one request at a time and the tests do not read during one);
 * - Path Delete, `recursive` or not; Path Get Properties (HEAD, any `action`).
 *
 * A directory exists when its marker blob does or when blobs are under it (the Blob
 * endpoint makes parent directories implicitly, as a real account does). The errors are
 * the service's codes for the cases the sink meets: FilesystemNotFound, PathNotFound,
 * SourcePathNotFound, RenameDestinationParentPathNotFound, PathAlreadyExists,
 * DirectoryNotEmpty. It does not check request signatures (only that a request carries
 * one), ACLs, leases or conditions other than `If-None-Match: *`. Paths are host-style,
 * `/FILESYSTEM/PATH`, as on a real account's DFS endpoint. Anything else it answers
 * 400 UnsupportedOperation, so that a test fails loudly if the sink starts to use it.
 */
import { afterAll, beforeAll } from "@effect/vitest"
import type { IncomingMessage, ServerResponse } from "node:http"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import type { Azurite } from "./azurite.js"

export type DfsOperation = "create-directory" | "rename" | "delete" | "get-properties"

export interface DfsRequest {
  readonly operation: DfsOperation
  readonly fileSystem: string
  readonly path: string
  /** For a rename: the path renamed, in the same file system. */
  readonly source?: string
  /** How the request was signed: a Shared Key, a bearer token or a SAS (not checked: see above). */
  readonly signature: "shared-key" | "bearer" | "sas"
}

export interface DfsFailure {
  readonly status: number
  readonly code: string
  readonly message: string
}

export interface FakeDfs {
  /** The endpoint, such as http://127.0.0.1:PORT: a store's `dfs_url`. */
  readonly url: string
  /** The requests served (or refused), in order. */
  readonly requests: Array<DfsRequest>
  /** Makes the next requests for which `when` gives a failure fail with it (a fault, a race with another writer). */
  readonly failWhen: (when: ((request: DfsRequest) => DfsFailure | undefined) | undefined) => void
  readonly close: () => Promise<void>
}

type Kind = "file" | "directory"

class Failure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string
  ) {
    super(message)
  }
}

const parentOf = (path: string) => (path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "")

/**
 * The fake over `azurite` for the tests of one file: started before them (after
 * Azurite, when `azuriteForTests` was called first), closed after them.
 */
export const fakeDfsForTests = (azurite: Azurite): FakeDfs => {
  let started: FakeDfs | undefined
  beforeAll(async () => {
    started = await startFakeDfs(azurite)
  })
  afterAll(async () => {
    await started?.close()
  })
  const running = (): FakeDfs => {
    if (started === undefined) throw new Error("the fake DFS endpoint runs only while the file's tests do")
    return started
  }
  return {
    get url() {
      return running().url
    },
    get requests() {
      return running().requests
    },
    failWhen: (when) => running().failWhen(when),
    close: () => running().close()
  }
}

export const startFakeDfs = async (azurite: Azurite): Promise<FakeDfs> => {
  const requests: Array<DfsRequest> = []
  let injected: ((request: DfsRequest) => DfsFailure | undefined) | undefined

  const containerOf = (fileSystem: string) => azurite.service.getContainerClient(fileSystem)

  const requireFileSystem = async (fileSystem: string) => {
    if (!(await containerOf(fileSystem).exists())) {
      throw new Failure(404, "FilesystemNotFound", "The specified filesystem does not exist.")
    }
  }

  const kindOf = async (fileSystem: string, path: string): Promise<Kind | undefined> => {
    if (path === "") return "directory"
    const container = containerOf(fileSystem)
    const blob = container.getBlobClient(path)
    if (await blob.exists()) {
      const properties = await blob.getProperties()
      return properties.metadata?.["hdi_isfolder"] === "true" ? "directory" : "file"
    }
    const under = await container
      .listBlobsFlat({ prefix: `${path}/` })
      .byPage({ maxPageSize: 1 })
      .next()
    return under.done === true || under.value.segment.blobItems.length === 0 ? undefined : "directory"
  }

  /** The blobs of a path: the file, or the directory's marker and everything under it. */
  const blobsOf = async (fileSystem: string, path: string, kind: Kind): Promise<Array<string>> => {
    if (kind === "file") return [path]
    const names: Array<string> = []
    const marker = containerOf(fileSystem).getBlobClient(path)
    if (path !== "" && (await marker.exists())) names.push(path)
    for await (const item of containerOf(fileSystem).listBlobsFlat({ prefix: path === "" ? "" : `${path}/` })) {
      names.push(item.name)
    }
    return names
  }

  const removeAll = async (fileSystem: string, names: ReadonlyArray<string>) => {
    for (const name of names) await containerOf(fileSystem).deleteBlob(name)
  }

  const createDirectory = async (fileSystem: string, path: string, request: IncomingMessage) => {
    await requireFileSystem(fileSystem)
    const kind = await kindOf(fileSystem, path)
    if (kind !== undefined && request.headers["if-none-match"] === "*") {
      throw new Failure(409, "PathAlreadyExists", "The specified path already exists.")
    }
    if (kind === "directory") return
    // Without a condition the service overwrites: a file at the path is replaced by the directory.
    if (kind === "file") await containerOf(fileSystem).deleteBlob(path)
    await containerOf(fileSystem)
      .getBlockBlobClient(path)
      .upload("", 0, { metadata: { hdi_isfolder: "true" } })
  }

  const renamePath = async (fileSystem: string, path: string, source: string, request: IncomingMessage) => {
    await requireFileSystem(fileSystem)
    const from = await kindOf(fileSystem, source)
    if (from === undefined) throw new Failure(404, "SourcePathNotFound", "The source path for a rename does not exist.")
    if (path === source || path.startsWith(`${source}/`)) {
      throw new Failure(400, "InvalidDestinationPath", "The destination path is within the source path.")
    }
    if ((await kindOf(fileSystem, parentOf(path))) !== "directory") {
      throw new Failure(
        404,
        "RenameDestinationParentPathNotFound",
        "The parent directory of the destination path does not exist."
      )
    }
    const there = await kindOf(fileSystem, path)
    if (there !== undefined && request.headers["if-none-match"] === "*") {
      throw new Failure(409, "PathAlreadyExists", "The specified path already exists.")
    }
    if (there === "directory") {
      // Mode legacy overwrites the destination, which must then be an empty directory.
      const inside = await blobsOf(fileSystem, path, "directory")
      if (inside.some((name) => name !== path)) {
        throw new Failure(
          409,
          "DirectoryNotEmpty",
          "The recursive query parameter value must be true to delete a non-empty directory."
        )
      }
      await removeAll(fileSystem, inside)
    } else if (there === "file") {
      await containerOf(fileSystem).deleteBlob(path)
    }
    const container = containerOf(fileSystem)
    const moved = await blobsOf(fileSystem, source, from)
    for (const name of moved) {
      const blob = container.getBlobClient(name)
      const [content, properties] = await Promise.all([blob.downloadToBuffer(), blob.getProperties()])
      await container.getBlockBlobClient(`${path}${name.slice(source.length)}`).uploadData(content, {
        metadata: properties.metadata ?? {},
        ...(properties.contentMD5 === undefined ? {} : { blobHTTPHeaders: { blobContentMD5: properties.contentMD5 } })
      })
    }
    await removeAll(fileSystem, moved)
  }

  const deletePath = async (fileSystem: string, path: string, recursive: boolean) => {
    await requireFileSystem(fileSystem)
    const kind = await kindOf(fileSystem, path)
    if (kind === undefined) throw new Failure(404, "PathNotFound", "The specified path does not exist.")
    const names = await blobsOf(fileSystem, path, kind)
    if (kind === "directory" && !recursive && names.some((name) => name !== path)) {
      throw new Failure(
        409,
        "DirectoryNotEmpty",
        "The recursive query parameter value must be true to delete a non-empty directory."
      )
    }
    await removeAll(fileSystem, names)
  }

  const properties = async (fileSystem: string, path: string, response: ServerResponse) => {
    await requireFileSystem(fileSystem)
    const kind = await kindOf(fileSystem, path)
    if (kind === undefined) throw new Failure(404, "PathNotFound", "The specified path does not exist.")
    response.setHeader("x-ms-resource-type", kind)
    response.setHeader("x-ms-owner", "$superuser")
    response.setHeader("x-ms-group", "$superuser")
    response.setHeader("x-ms-permissions", kind === "directory" ? "rwxr-x---" : "rw-r-----")
    response.setHeader("x-ms-acl", "user::rwx,group::r-x,other::---")
    if (kind === "file") {
      const blob = await containerOf(fileSystem).getBlobClient(path).getProperties()
      response.setHeader("content-length", String(blob.contentLength ?? 0))
      if (blob.etag !== undefined) response.setHeader("etag", blob.etag)
      if (blob.lastModified !== undefined) response.setHeader("last-modified", blob.lastModified.toUTCString())
    }
  }

  /** The operation a request asks for, or a failure for one this fake does not serve. */
  const operationOf = (request: IncomingMessage, query: URLSearchParams): DfsOperation => {
    if (request.method === "PUT" && request.headers["x-ms-rename-source"] !== undefined) return "rename"
    if (request.method === "PUT" && query.get("resource") === "directory") return "create-directory"
    if (request.method === "DELETE") return "delete"
    if (request.method === "HEAD") return "get-properties"
    throw new Failure(
      400,
      "UnsupportedOperation",
      `this fake DFS endpoint does not serve ${request.method} ${[...query.keys()].join(",")}`
    )
  }

  const serve = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? "/", "http://fake")
    const [fileSystem = "", ...parts] = url.pathname.split("/").slice(1).map(decodeURIComponent)
    const path = parts.join("/").replace(/\/+$/, "")
    const authorization = request.headers.authorization ?? ""
    const signature = authorization.startsWith("SharedKey ")
      ? "shared-key"
      : authorization.startsWith("Bearer ")
        ? "bearer"
        : url.searchParams.has("sig")
          ? "sas"
          : undefined
    if (signature === undefined) {
      throw new Failure(401, "NoAuthenticationInformation", "Server failed to authenticate the request.")
    }
    const operation = operationOf(request, url.searchParams)
    const renameSource = request.headers["x-ms-rename-source"]
    const source =
      typeof renameSource === "string"
        ? new URL(renameSource, "http://fake").pathname.split("/").slice(1).map(decodeURIComponent)
        : undefined
    if (source !== undefined && source[0] !== fileSystem) {
      throw new Failure(400, "UnsupportedOperation", "this fake renames within one file system only")
    }
    const served: DfsRequest = {
      operation,
      fileSystem,
      path,
      signature,
      ...(source === undefined ? {} : { source: source.slice(1).join("/").replace(/\/+$/, "") })
    }
    requests.push(served)
    const failure = injected?.(served)
    if (failure !== undefined) throw new Failure(failure.status, failure.code, failure.message)
    switch (operation) {
      case "create-directory":
        await createDirectory(fileSystem, path, request)
        response.statusCode = 201
        break
      case "rename":
        await renamePath(fileSystem, path, served.source!, request)
        response.statusCode = 201
        break
      case "delete":
        await deletePath(fileSystem, path, url.searchParams.get("recursive") === "true")
        response.statusCode = 200
        break
      case "get-properties":
        await properties(fileSystem, path, response)
        response.statusCode = 200
        break
    }
    response.end()
  }

  const server = createServer((request, response) => {
    // The body (none for these operations) is drained before answering.
    request.resume()
    request.on("end", () => {
      response.setHeader("x-ms-request-id", `fake-${requests.length}`)
      response.setHeader("x-ms-version", "2025-01-05")
      serve(request, response).catch((error: unknown) => {
        const failure =
          error instanceof Failure
            ? error
            : new Failure(500, "InternalError", error instanceof Error ? error.message : String(error))
        response.statusCode = failure.status
        response.setHeader("x-ms-error-code", failure.code)
        if (request.method === "HEAD") return response.end()
        response.setHeader("content-type", "application/json;charset=utf-8")
        response.end(JSON.stringify({ error: { code: failure.code, message: failure.message } }))
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    failWhen: (when) => {
      injected = when
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections()
        server.close((error) => (error === undefined ? resolve() : reject(error)))
      })
  }
}
