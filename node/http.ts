/**
 * Plain HTTP on a seed's port: the WebSocket listener hands every non-upgrade
 * request to the handler set here (the demo serves its page this way, on the
 * same port as the mesh). Without one, requests get 404.
 */
import type http from 'node:http';

export type HttpHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

let handler: HttpHandler | undefined;

/** Serve plain HTTP requests on every seed listener of this process (undefined: 404). */
export function setHttpHandler(h: HttpHandler | undefined): void {
  handler = h;
}

/** The listener's entry point: the current handler, or a 404. */
export function serveHttp(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (handler) return handler(req, res);
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
}
