#!/usr/bin/env escript
%% Known-truth Erlang workload for samples whose leaf is C code called from Erlang
%% (docs/beam.md, "C leaves").
%%
%% Every round, below a fixed depth of non-tail calls, measure/2 runs three loops:
%% reverse/2 calls the BIF lists:reverse/1 on a list of 4,000 elements, 1,000 times (C code:
%% the BIF, and the garbage collector its garbage calls for; with a longer list the heap
%% outgrows what the scheduler collects itself and a dirty CPU scheduler collects it), multiply/2 does bignum arithmetic (C code:
%% erts_mixed_times, erts_int_rem and the bignum routines they call), spin/2 small-integer
%% arithmetic (JIT code only). The truth is measured: each function's share of the VM's CPU
%% time (erlang:statistics(runtime), milliseconds, summed over rounds), printed every 0.2 s
%% as `truth reverse=MS multiply=MS spin=MS at=NS` after a first line `ready PID`, where NS is the
%% OS's CLOCK_MONOTONIC when the totals were taken: the clock of the samples' times, so that
%% the test counts the samples of the same span as the truth it compares them with.
%%
%% usage: escript cleaf_truth.erl [LENGTH]   (runs until killed; LENGTH 4000 unless given:
%% 20000 moves the garbage collections to a dirty scheduler, whose spinning while the
%% process moves between schedulers the truth counts too, so use it for callers, not shares)
%% The first line is a shebang so that the VM's line numbers are the file's (known_truth.erl).
%% +S 1:1 and +sbwt none as in known_truth.erl: the VM's CPU time is the workload's.
-module(cleaf_truth).
-mode(compile).
-export([main/1]).
%%! +S 1:1 +sbwt none +sbwtdcpu none +sbwtdio none

-define(DEPTH, 8).
-define(LENGTH, 4000).
%% Elements reversed per round, whatever the length.
-define(REVERSED, 4000000).

main(Arguments) ->
    io:format("ready ~s~n", [os:getpid()]),
    {clock_id, 'CLOCK_MONOTONIC'} = lists:keyfind(clock_id, 1, erlang:system_info(os_monotonic_time_source)),
    1000000000 = erlang:convert_time_unit(1, second, native),
    Length = case Arguments of [] -> ?LENGTH; [Given] -> list_to_integer(Given) end,
    List = lists:seq(1, Length),
    Next = erlang:monotonic_time(millisecond),
    rounds({0, 0, 0}, List, Next).

rounds(Spent, List, Next) ->
    Spent1 = descend(?DEPTH, Spent, List),
    Now = erlang:monotonic_time(millisecond),
    case Now >= Next of
        true ->
            {A, B, C} = Spent1,
            io:format("truth reverse=~b multiply=~b spin=~b at=~b~n", [A, B, C, os_monotonic_ns()]),
            rounds(Spent1, List, Next + 200);
        false ->
            rounds(Spent1, List, Next)
    end.

%% Non-tail recursion: each level keeps a frame on the Erlang stack.
descend(0, Spent, List) -> measure(Spent, List);
descend(N, Spent, List) ->
    Result = descend(N - 1, Spent, List),
    keep(Result).

keep(Result) -> Result.

measure({A, B, C}, List) ->
    T0 = cpu_ms(),
    _ = reverse(?REVERSED div length(List), List),
    T1 = cpu_ms(),
    _ = multiply(100000, 16#123456789abcdef0123456789abcdef),
    T2 = cpu_ms(),
    _ = spin(6000000, 1),
    T3 = cpu_ms(),
    {A + T1 - T0, B + T2 - T1, C + T3 - T2}.

%% CLOCK_MONOTONIC, in the VM's native unit, which main/1 checked is the nanosecond (a
%% conversion here would call the bignum code multiply/2's samples are told by). The test
%% checks the times against its own clock.
os_monotonic_ns() ->
    {time, Native} = lists:keyfind(time, 1, erlang:system_info(os_monotonic_time_source)),
    Native.

cpu_ms() ->
    {Total, _} = erlang:statistics(runtime),
    Total.

%% Each loop is tail-recursive on itself: while it runs, its function is the innermost Erlang
%% frame, whether the leaf is the BIF's C code or the loop's own JIT code.
reverse(0, List) -> List;
reverse(N, List) -> reverse(N - 1, lists:reverse(List)).

multiply(0, X) -> X;
multiply(N, X) -> multiply(N - 1, (X * 16#9e3779b97f4a7c15f39cc0605cedc835) rem 16#ffffffffffffffffffffffffffffffc5).

spin(0, X) -> X;
spin(N, X) -> spin(N - 1, (X * 69069 + 1) band 16#fffffff).
