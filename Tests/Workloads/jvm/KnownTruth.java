// Known-truth JVM workload for tandem's JVM live test (docs/jvm.md; the test is still to
// come). Every round runs the same loop for 5, 2 and 3 units of work in a static method
// (alpha, which calls a small helper C2 inlines), an instance method of a nested class
// (Calc.beta) and a lambda (gamma): about alpha 50%, beta 20%, gamma 30% of the Java leaf
// frames. The truth the test uses is measured: each method's thread CPU time, summed over
// the worker threads, printed every 0.2 s as `truth alpha=NS beta=NS gamma=NS`.
// usage: java KnownTruth.java THREADS   (runs until killed; prints "ready" first)
package tandem.truth;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.IntUnaryOperator;

public class KnownTruth {
    static final int UNIT = 200_000;
    static final ThreadMXBean CPU = ManagementFactory.getThreadMXBean();
    static final AtomicLongArray SPENT = new AtomicLongArray(3);

    /** Small enough that C2 inlines it into alpha's loop. */
    static int mix(int total, int i) {
        return (total + i * 7) & 0xFFFF;
    }

    static int alpha(int units) {
        int total = 0;
        for (int i = 0; i < units * UNIT; i++) {
            total = mix(total, i);
        }
        return total;
    }

    static final class Calc {
        int beta(int units) {
            int total = 0;
            for (int i = 0; i < units * UNIT; i++) {
                total = (total + i * 7) & 0xFFFF;
            }
            return total;
        }
    }

    static void work() {
        Calc calc = new Calc();
        IntUnaryOperator gamma = units -> {
            int total = 0;
            for (int i = 0; i < units * UNIT; i++) {
                total = (total + i * 7) & 0xFFFF;
            }
            return total;
        };
        long sink = 0;
        while (true) {
            long start = CPU.getCurrentThreadCpuTime();
            sink += alpha(5);
            long afterAlpha = CPU.getCurrentThreadCpuTime();
            sink += calc.beta(2);
            long afterBeta = CPU.getCurrentThreadCpuTime();
            sink += gamma.applyAsInt(3);
            long end = CPU.getCurrentThreadCpuTime();
            SPENT.addAndGet(0, afterAlpha - start);
            SPENT.addAndGet(1, afterBeta - afterAlpha);
            SPENT.addAndGet(2, end - afterBeta);
            if (sink == 42) System.out.println();
        }
    }

    public static void main(String[] args) throws InterruptedException {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : 2;
        for (int t = 0; t < threads; t++) {
            Thread worker = new Thread(KnownTruth::work, "truth-" + t);
            worker.setDaemon(true);
            worker.start();
        }
        System.out.println("ready");
        while (true) {
            Thread.sleep(200);
            System.out.println("truth alpha=" + SPENT.get(0) + " beta=" + SPENT.get(1) + " gamma=" + SPENT.get(2));
        }
    }
}
