%% Spins for SECONDS (the argument) of the VM's CPU time in JIT-compiled Erlang code:
%% loop -> descend x4 -> mix, whose arithmetic calls into C (erts_mixed_times, erts_band...).
%% Run with +JPperf true (frame pointers in JIT code, and a perf map naming it).
-module(unwind_erlang).
-export([main/1]).

main([Seconds]) ->
    {Now, _} = erlang:statistics(runtime),
    loop(Now + list_to_integer(atom_to_list(Seconds)) * 1000, 1),
    halt().

loop(End, Seed) ->
    case erlang:statistics(runtime) of
        {Now, _} when Now < End -> loop(End, descend(4, Seed));
        _ -> ok
    end.

descend(0, Seed) -> mix(2000, Seed);
descend(N, Seed) -> (descend(N - 1, Seed * 31 + N) bxor N) band 16#ffffffff.

mix(0, X) -> X;
mix(N, X) -> mix(N - 1, (X * 1103515245 + 12345) band 16#7fffffff).
