/* mhd_ceiling: the ceiling of the HTTP layer for the daemon benchmark.
 *
 * A do-nothing libmicrohttpd server started exactly as stepupd starts its
 * own (daemon/server.c: internal polling thread, epoll, turbo, a thread
 * pool of one thread per CPU, ITC, suspend/resume allowed, the same
 * connection options, a listening socket bound the same way), reading each
 * POST body to the end and answering one fixed JSON response of a
 * decision's size with the same headers. Whatever stepupd does on top
 * costs throughput against this.
 *
 *   mhd_ceiling [--port-file F] [--threads N]     (listens on 127.0.0.1:0) */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char body[] =
	"{\"request_id\":\"7c0b6f9e-1d2a-4e55-9a0e-3f1f2a8c9d10\",\"decision_id\":\"dcs_06H047X2EBWTXBY6\","
	"\"decision\":\"YELLOW\",\"network_decision\":\"REQUIRE_ADDITIONAL_AUTHENTICATION\","
	"\"idv_methods\":[{\"type\":\"IN_APP\",\"app_id\":\"com.examplebank.mobile\"},"
	"{\"type\":\"OTP_SMS\",\"value\":\"+1 *** *** 1234\"},"
	"{\"type\":\"CUSTOMER_SERVICE\",\"value\":\"+1-800-555-0100\",\"line\":\"STANDARD\"}],"
	"\"reasons\":[{\"rule\":\"phone_mismatch\",\"outcome\":\"YELLOW\",\"at\":\"default.rules:60\"}],"
	"\"ruleset\":{\"name\":\"issuer-default\",\"revision\":"
	"\"sha256:2ce3cacbf320cd8108f9a7eb8e671e0856acc9cafcace945f00d00ecb15fd168\"}}";

static struct MHD_Response *resp;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **req_cls)
{
	static int marker;
	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	(void)upload_data;
	if (!*req_cls) {
		*req_cls = &marker;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;  /* read and dropped */
		return MHD_YES;
	}
	return MHD_queue_response(c, MHD_HTTP_OK, resp);
}

int main(int argc, char **argv)
{
	const char *port_file = NULL;
	long threads = sysconf(_SC_NPROCESSORS_ONLN);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port-file") && i + 1 < argc)
			port_file = argv[++i];
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atol(argv[++i]);
		else {
			fprintf(stderr, "usage: mhd_ceiling [--port-file F] [--threads N]\n");
			return 2;
		}
	}
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	socklen_t al = sizeof(a);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1024) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
		perror("mhd_ceiling: listen");
		return 1;
	}
	resp = MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	struct MHD_OptionItem pool[] = {
		{ threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (intptr_t)threads, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_ERROR_LOG | MHD_USE_TURBO, 0, NULL, NULL, on_request, NULL,
		MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_ARRAY, pool,
		MHD_OPTION_CONNECTION_TIMEOUT, 10u,
		MHD_OPTION_CONNECTION_LIMIT, 1024u + 64u * (unsigned)threads,
		MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "mhd_ceiling: MHD_start_daemon failed\n");
		return 1;
	}
	if (port_file) {
		FILE *f = fopen(port_file, "w");
		if (f) {
			fprintf(f, "%u\n", ntohs(a.sin_port));
			fclose(f);
		}
	} else {
		printf("%u\n", ntohs(a.sin_port));
		fflush(stdout);
	}
	int sig;
	sigwait(&sigs, &sig);
	MHD_stop_daemon(d);
	MHD_destroy_response(resp);
	return 0;
}
