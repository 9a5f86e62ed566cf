/* server.h: the HTTP server (libmicrohttpd, thread pool, epoll). */
#ifndef STEPUPD_SERVER_H
#define STEPUPD_SERVER_H

#include "config.h"

/* Bind and listen on cfg->listen_addr. The bound port (useful with port 0)
 * goes to *port. -1 and a message naming the address on failure. */
int server_listen(const stepupd_config *cfg, unsigned *port, char *err, size_t errlen);
/* Start the worker threads on the listening socket. */
int server_start(const stepupd_config *cfg, char *err, size_t errlen);
/* Stop accepting connections: new connects are refused; open connections
 * are served, their responses say "Connection: close". */
void server_quiesce(void);
/* Stop the workers, closing every connection left. */
void server_stop(void);

#endif
