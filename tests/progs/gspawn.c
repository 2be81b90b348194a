/* gspawn.c - a GLib program: a GThreadPool (GLib starts its threads with
 * every signal blocked) whose tasks build hash tables on the heap, then
 * children spawned with g_spawn_sync, which closes every descriptor above 2
 * in the child before exec (with a child_setup function it always forks).
 * usage: gspawn FILE [TASKS]   (FILE: lines for sort -n; TASKS for the
 *        thread pool, default 6, 0 = no pool)
 * Prints checksums of the threads' work and of each child's output. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static GMutex lock;
static guint64 total;

static void task(gpointer data, gpointer user)
{
	guint k = GPOINTER_TO_UINT(data);
	GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	guint64 sum = 0;

	(void)user;
	for (guint i = 0; i < 60000; i++)
		g_hash_table_insert(h, g_strdup_printf("key-%u-%u", k, i), g_strnfill(40 + i % 200, 'a' + i % 26));
	for (guint i = 0; i < 60000; i += 7) {
		char key[64];

		snprintf(key, sizeof(key), "key-%u-%u", k, i);
		sum += strlen(g_hash_table_lookup(h, key));
	}
	g_hash_table_destroy(h);
	g_mutex_lock(&lock);
	total += sum * k;
	g_mutex_unlock(&lock);
}

static void child_setup(gpointer user)
{
	(void)user;                  /* its presence makes GLib fork, not posix_spawn */
}

static int spawn(char **argv, GSpawnChildSetupFunc setup)
{
	char *out = NULL, *err = NULL, *sum;
	GError *e = NULL;
	int st;

	if (!g_spawn_sync(NULL, argv, NULL, G_SPAWN_SEARCH_PATH, setup, NULL, &out, &err, &st, &e)) {
		printf("%s: spawn failed: %s\n", argv[0], e->message);
		return 1;
	}
	sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, out, -1);
	printf("%s: exit %d, %zu bytes, sha256 %s, stderr %zu bytes\n", argv[0],
	       g_spawn_check_wait_status(st, NULL) ? 0 : st, strlen(out), sum, strlen(err));
	g_free(sum);
	g_free(out);
	g_free(err);
	return 0;
}

int main(int argc, char **argv)
{
	guint tasks = argc > 2 ? (guint)strtoul(argv[2], NULL, 10) : 6;
	GThreadPool *pool;
	char *sort[] = { "sort", "-n", argc > 1 ? argv[1] : "/dev/null", NULL };
	char *sh[] = { "sh", "-c", "tr a-z A-Z < \"$0\" | wc", argc > 1 ? argv[1] : "/dev/null", NULL };
	int bad = 0;

	if (tasks) {
		pool = g_thread_pool_new(task, NULL, 2, TRUE, NULL);
		for (guint k = 1; k <= tasks; k++)  /* not 0: a NULL task is refused */
			g_thread_pool_push(pool, GUINT_TO_POINTER(k), NULL);
		g_thread_pool_free(pool, FALSE, TRUE);
		printf("thread pool: %u tasks, %" G_GUINT64_FORMAT "\n", tasks, total);
	}
	bad |= spawn(sort, NULL);
	bad |= spawn(sort, child_setup);
	bad |= spawn(sh, child_setup);
	return bad;
}
