/**
 * An SMTP server in the test's process (smtp-server) on a free port of 127.0.0.1,
 * plain text (no STARTTLS), that keeps every mail it receives, parsed (mailparser).
 * With `user` and `password`, it requires them (AUTH over the plain connection).
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { ParsedMail } from "mailparser"
import { simpleParser } from "mailparser"
import type { AddressInfo } from "node:net"
import { SMTPServer } from "smtp-server"
import type { SmtpOptions } from "../../runtime/service/SmtpMailer.js"

export interface TestSmtp {
  /** Options for `SmtpMailer.layerSmtp` that reach this server (with the right credentials). */
  readonly options: SmtpOptions
  /** Mails received, in order, parsed. */
  readonly mails: ReadonlyArray<ParsedMail>
  /** The envelope recipients of each mail, in order. */
  readonly recipients: ReadonlyArray<ReadonlyArray<string>>
}

export const FROM = "Ferry <ferry@contoso.example>"

/** The server, closed when the scope closes. */
export const smtpServer = (credentials?: { readonly user: string; readonly password: string }) =>
  Effect.acquireRelease(
    Effect.async<{ server: SMTPServer; state: TestSmtp }>((resume) => {
      const mails: Array<ParsedMail> = []
      const recipients: Array<ReadonlyArray<string>> = []
      const server = new SMTPServer({
        secure: false,
        disabledCommands: credentials === undefined ? ["STARTTLS", "AUTH"] : ["STARTTLS"],
        allowInsecureAuth: true,
        authOptional: credentials === undefined,
        logger: false,
        onAuth: (auth, _session, callback) => {
          if (
            credentials !== undefined &&
            auth.username === credentials.user &&
            auth.password === credentials.password
          ) {
            callback(null, { user: auth.username })
          } else {
            callback(new Error("Invalid username or password"))
          }
        },
        onData: (stream, session, callback) => {
          simpleParser(stream).then(
            (mail) => {
              mails.push(mail)
              recipients.push(session.envelope.rcptTo.map((rcpt) => rcpt.address))
              callback()
            },
            (error: Error) => callback(error)
          )
        }
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.server.address() as AddressInfo
        const options: SmtpOptions = {
          host: "127.0.0.1",
          port,
          from: FROM,
          secure: false,
          timeoutMillis: 5_000,
          ...(credentials === undefined
            ? {}
            : { user: credentials.user, password: Redacted.make(credentials.password) })
        }
        resume(Effect.succeed({ server, state: { options, mails, recipients } }))
      })
    }),
    ({ server }) => Effect.async<void>((resume) => server.close(() => resume(Effect.void)))
  ).pipe(Effect.map(({ state }) => state))
