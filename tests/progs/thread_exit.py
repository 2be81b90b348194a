# thread_exit.py - Python threads (detached by the interpreter) that
# create and drop objects, round after round: their exit must survive
# glibc's blocking of every signal (see thread_exit.c). test_hostile runs
# it with Debian's /usr/bin/python3 under a small pool.
import threading
def work(n):
    l = [str(i) * 10 for i in range(n)]
    d = {i: l[i] for i in range(0, n, 3)}
    return len(d)
for r in range(20):
    ts = [threading.Thread(target=work, args=(4000,)) for _ in range(8)]
    for t in ts: t.start()
    for t in ts: t.join()
print("ok")
