// prog.c: a small program for the shadow's tests. It changes its layout
// with anonymous memory (mmap, munmap, mprotect, mremap, madvise, brk)
// and a file of its own (private and shared mappings, huge-page aligned
// placement), writes to some of it between calls (so areas get anon_vmas that
// decide later merges), forks a child that changes its own copy, and with
// "exec" as its first argument runs itself again through execve, with
// "threads" it first runs four threads that map and unmap at once.
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096UL

static void churn(int round) {
	char *a = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED) exit(10);
	a[0] = 1;                       /* anon_vma for a */
	mprotect(a + 4 * PG, 4 * PG, PROT_READ);
	mprotect(a + 4 * PG, 4 * PG, PROT_READ | PROT_WRITE); /* merges back */
	char *b = mmap(a - 8 * PG, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	(void)b;                        /* merges with a: b has no anon_vma */
	/* Two areas written apart get two anon_vmas and never merge, even
	 * with equal protections: the mirror must learn of the writes. */
	char *y = mmap(NULL, 4 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* y, x */
	char *x = mmap(y + 2 * PG, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	mmap(y, 2 * PG, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	x[0] = 1;
	y[0] = 1;
	mprotect(y, 2 * PG, PROT_READ | PROT_WRITE);
	/* A written area unmapped and mapped again at the same range: the
	 * new one is written too, and must again stay apart from a written
	 * neighbour. */
	char *q = mmap(NULL, 6 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* q, r, a guard */
	char *r = mmap(q + 2 * PG, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	r[0] = 1;
	madvise(r, PG, MADV_NORMAL); /* a call that sees r written */
	munmap(r, 2 * PG);
	r = mmap(r, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	r[PG] = 1;
	mmap(q, 2 * PG, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	/* Written while its flags differ from r's, q takes an anon_vma of
	 * its own rather than r's (find_mergeable_anon_vma). */
	madvise(q, 2 * PG, MADV_DONTDUMP);
	q[0] = 1;
	madvise(q, 2 * PG, MADV_DODUMP);
	mprotect(q, 2 * PG, PROT_READ | PROT_WRITE);
	mprotect(q, PG, PROT_READ);
	mprotect(q, PG, PROT_READ | PROT_WRITE);
	munmap(a + 2 * PG, PG);
	char *c = mremap(a + 8 * PG, 4 * PG, 64 * PG, MREMAP_MAYMOVE);
	if (c == MAP_FAILED) exit(11);
	c[63 * PG] = 2;
	madvise(c, 64 * PG, MADV_DONTNEED);
	madvise(a, 2 * PG, MADV_DONTFORK);
	char *g = mmap(NULL, 3 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	mprotect(g + PG, PG, PROT_READ | PROT_WRITE);
	g[PG] = 3;
	/* errors the kernel answers: EINVAL for an unaligned address, ENOMEM for a hole */
	munmap(a + 1, PG);
	mprotect((void *)(16 * PG), PG, PROT_READ);
	madvise(a, PG, 9999);
	void *h = sbrk(0);
	sbrk(5 * PG + round);
	memset(h, 1, 5 * PG);
	sbrk(-2 * (long)PG);
	munmap(c, 64 * PG);
	munmap(y, 4 * PG);
	munmap(q, 6 * PG);
	if (round == 0) munmap(g, 3 * PG);
}

/* files maps a file it makes beside its binary: 3 MiB and a page, so
 * that the kernel places the mapping huge-page aligned (ext4 and xfs
 * files go through thp_get_unmapped_area), privately and shared, grows
 * and moves it, and maps 4 MiB of anonymous memory, also aligned. */
static void files(const char *self) {
	char path[4096];
	snprintf(path, sizeof path, "%s.data", self);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 3 * 1024 * 1024 + PG) != 0) exit(20);
	char *p = mmap(NULL, 3 * 1024 * 1024 + PG, PROT_READ, MAP_PRIVATE, fd, 0);
	char *s = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, PG);
	char *o = mmap(NULL, 3 * 1024 * 1024, PROT_READ, MAP_PRIVATE, fd, PG); /* aligned like its offset */
	if (p == MAP_FAILED || s == MAP_FAILED || o == MAP_FAILED) exit(21);
	s[0] = 1;
	mprotect(p + PG, PG, PROT_READ | PROT_WRITE);
	p[PG] = 1;                          /* a private copy: anon_vma */
	mprotect(p + PG, PG, PROT_READ);
	char *q = mremap(s, 2 * PG, 8 * PG, MREMAP_MAYMOVE);
	if (q == MAP_FAILED) exit(22);
	munmap(q, 8 * PG);
	munmap(o, 3 * 1024 * 1024);
	/* Errors the file decides: a shared writable mapping of a file
	 * opened read-only, an unaligned offset. */
	int ro = open(path, O_RDONLY);
	if (mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0) != MAP_FAILED) exit(23);
	if (mmap(NULL, PG, PROT_READ, MAP_PRIVATE, ro, 1) != MAP_FAILED) exit(24);
	if (mmap(NULL, PG, PROT_READ, MAP_PRIVATE, 1000, 0) != MAP_FAILED) exit(25);
	close(ro);
	char *big = mmap(NULL, 4 * 1024 * 1024, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (big == MAP_FAILED) exit(26);
	munmap(big, 4 * 1024 * 1024);
	munmap(p, 3 * 1024 * 1024 + PG);
	close(fd);
	unlink(path);
}

static volatile int got;
static void on_usr1(int sig) { got = sig; }

/* grow_stack touches stack below the area exec made: the kernel grows it
 * on the fault, with no system call. */
static int grow_stack(int depth) {
	volatile char buf[64 * 1024];
	memset((char *)buf, depth, sizeof buf);
	return depth ? grow_stack(depth - 1) + buf[100] : buf[7];
}

/* worker maps, writes, protects and unmaps, at the same time as the
 * other threads. Each thread maps with its own flags (VM_NORESERVE,
 * VM_NOHUGEPAGE), so its areas never merge with another thread's: which
 * areas share an anon_vma then never depends on how one thread's writes
 * fall between another's calls, which no tracer can see. */
static void *worker(void *arg) {
	int extra = (int)(long)arg;
	for (int i = 0; i < 20; i++) {
		char *p = mmap(NULL, (1 + i % 3) * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, 0);
		p[0] = 1;
		mprotect(p, PG, PROT_READ);
		munmap(p, (1 + i % 3) * PG);
	}
	return arg;
}

int main(int argc, char **argv) {
	signal(SIGUSR1, on_usr1);
	raise(SIGUSR1); /* a signal the shadow must deliver */
	if (got != SIGUSR1) return 15;
	if (grow_stack(8) < 0) return 16;
	files(argv[0]);
	if (argc > 1 && strcmp(argv[1], "threads") == 0) {
		static const long extra[3] = {MAP_NORESERVE, MAP_STACK, MAP_NORESERVE | MAP_STACK};
		pthread_t t[3];
		for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, worker, (void *)extra[i]);
		worker(NULL);
		for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
	}
	churn(0);
	pid_t p = fork();
	if (p == 0) {
		churn(1);
		_exit(0);
	}
	int st;
	waitpid(p, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return 12;
	churn(2);
	if (argc > 1 && strcmp(argv[1], "exec") == 0) {
		pid_t q = vfork();
		if (q == 0) {
			execl("/proc/self/exe", argv[0], "child", (char *)NULL);
			_exit(13);
		}
		waitpid(q, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 7) return 14;
	}
	printf("prog %s done\n", argc > 1 ? argv[1] : "");
	return argc > 1 && strcmp(argv[1], "child") == 0 ? 7 : 0;
}
