#!/usr/bin/env escript
%% Known-truth Erlang workload for tandem's BEAM frames (docs/beam.md).
%%
%% Every round, below a fixed depth of non-tail calls, runs the same arithmetic loop for
%% 5, 2 and 3 units of work in known_truth:alpha/2, beta/2 and gamma/2: about alpha 50%,
%% beta 20%, gamma 30% of the innermost Erlang frames. The loops stay in JIT-compiled code: small-integer arithmetic only, no BIF calls, no allocation.
%% The truth is measured: each function's share of the VM's CPU time
%% (erlang:statistics(runtime), milliseconds, summed over rounds), printed every 0.2 s as
%% `truth alpha=MS beta=MS gamma=MS`.
%%
%% usage: escript known_truth.erl   (runs until killed; prints "ready PID" first)
%% The first line is a shebang: escript skips its first line, and without one the line numbers
%% the VM keeps (stack traces, tandem's frames) would be one less than the file's.
%% +S 1:1 keeps the work on one scheduler thread, +sbwt none stops idle schedulers from
%% spinning, so that the VM's CPU time is the workload's; neither changes how code runs.
-module(known_truth).
-mode(compile).
-export([main/1]).
%%! +S 1:1 +sbwt none +sbwtdcpu none +sbwtdio none

-define(UNIT, 1000000).
-define(DEPTH, 8).

main(_) ->
    io:format("ready ~s~n", [os:getpid()]),
    Next = erlang:monotonic_time(millisecond),
    rounds({0, 0, 0}, Next).

rounds(Spent, Next) ->
    Spent1 = descend(?DEPTH, Spent),
    Now = erlang:monotonic_time(millisecond),
    case Now >= Next of
        true ->
            {A, B, C} = Spent1,
            io:format("truth alpha=~b beta=~b gamma=~b~n", [A, B, C]),
            rounds(Spent1, Next + 200);
        false ->
            rounds(Spent1, Next)
    end.

%% Non-tail recursion: each level keeps a frame on the Erlang stack.
descend(0, Spent) -> measure(Spent);
descend(N, Spent) ->
    Result = descend(N - 1, Spent),
    keep(Result).

keep(Result) -> Result.

measure({A, B, C}) ->
    T0 = cpu_ms(),
    X1 = alpha(5 * ?UNIT, 1),
    T1 = cpu_ms(),
    X2 = beta(2 * ?UNIT, X1),
    T2 = cpu_ms(),
    _ = gamma(3 * ?UNIT, X2),
    T3 = cpu_ms(),
    {A + T1 - T0, B + T2 - T1, C + T3 - T2}.

cpu_ms() ->
    {Total, _} = erlang:statistics(runtime),
    Total.

%% The three functions: the same loop, tail-recursive on themselves, so that the innermost
%% frame while they run is the function itself (alpha/2, beta/2, gamma/2).
alpha(0, X) -> X;
alpha(N, X) -> alpha(N - 1, (X * 69069 + 1) band 16#fffffff).

beta(0, X) -> X;
beta(N, X) -> beta(N - 1, (X * 69069 + 1) band 16#fffffff).

gamma(0, X) -> X;
gamma(N, X) -> gamma(N - 1, (X * 69069 + 1) band 16#fffffff).
