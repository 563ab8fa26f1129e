// A JVM workload for the method-record fixtures: a few methods made hot enough to compile
// (C1 and C2), in a package, with a lambda and a nested class.
package tandem.fixture;

import java.util.function.IntUnaryOperator;

public class Spin {
    static final class Nested {
        static int mix(int x) {
            int y = x * 31;
            y ^= y >>> 7;
            return y + 11;
        }
    }

    static int alpha(int n) {
        int sum = 0;
        for (int i = 0; i < n; i++) {
            sum += Nested.mix(i);
        }
        return sum;
    }

    static long beta(int n) {
        long product = 1;
        for (int i = 1; i < n; i++) {
            product = product * 3 + i;
        }
        return product;
    }

    public static void main(String[] args) throws Exception {
        IntUnaryOperator gamma = x -> {
            int z = x;
            for (int i = 0; i < 100; i++) {
                z = z * 7 + i;
            }
            return z;
        };
        long sink = 0;
        long end = System.nanoTime() + Long.parseLong(args[0]) * 1_000_000L;
        while (System.nanoTime() < end) {
            sink += alpha(1000);
            sink += beta(1000);
            sink += gamma.applyAsInt((int) sink);
        }
        System.out.println(sink == 42 ? "" : "ready");
        Thread.sleep(Long.MAX_VALUE);
    }
}
