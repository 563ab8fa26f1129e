/*
 * Prints one perl's `struct tandem_perl_layout` (bpf/tandem_perl.h) as a Swift
 * `PerlLayout(...)` expression. Compiled by scripts/perl-layouts.sh against the perl's own
 * CORE headers, so every offset is the compiler's, not a transcription.
 *
 * Also checks the constants the walker and the decoder test (context types, SV types and
 * flags, the stack info type of the main runlevel) and the field widths they read.
 */
#include <EXTERN.h>
#include <perl.h>
#include <stddef.h>
#include <stdio.h>

#if !defined(USE_ITHREADS) || !defined(MULTIPLICITY)
#error "tandem's Perl walker reads threaded builds (the interpreter of a thread through PL_thr_key)"
#endif
#if PERL_REVISION != 5 || PERL_VERSION < 28 || PERL_VERSION > 36
#error "the table describes perl 5.28 to 5.36 (5.38 stores cop_file otherwise)"
#endif

#define CHECK(condition) do { if (!(condition)) { \
    fprintf(stderr, "perl-layouts: %s does not hold for this perl\n", #condition); return 1; } } while (0)
#define WIDTH(type, member) sizeof(((type *)0)->member)

static void field(const char *name, size_t value) {
    printf("            %s: %zu,\n", name, value);
}

int main(void) {
    CHECK(CXTYPEMASK == 0xf && CXt_SUB == 9 && CXt_FORMAT == 10 && CXt_EVAL == 11);
    CHECK(CXp_SUB_RE_FAKE == 0x80 && PERLSI_MAIN == 1);
    CHECK(SVTYPEMASK == 0xff && SVt_PVGV == 9 && SVt_PVHV == 12 && SVt_PVCV == 13);
    CHECK(SVf_OOK == 0x02000000 && CVf_NAMED == 0x8000);
    CHECK(WIDTH(PERL_CONTEXT, cx_type) == 1 && WIDTH(PERL_SI, si_cxix) == 4 && WIDTH(PERL_SI, si_type) == 4);
    CHECK(WIDTH(COP, cop_line) == 4 && WIDTH(struct sv, sv_flags) == 4 && WIDTH(XPVCV, xcv_flags) == 4);
    CHECK(WIDTH(struct hek, hek_len) == 4 && WIDTH(struct xpvhv_aux, xhv_name_count) == 4);

    printf("        // %d.%d.%d\n", PERL_REVISION, PERL_VERSION, PERL_SUBVERSION);
    printf("        PerlLayout(\n");
    printf("            version: .init(revision: %d, version: %d, subversion: %d),\n",
           PERL_REVISION, PERL_VERSION, PERL_SUBVERSION);
    field("interpreterCurrentStackInfo", offsetof(struct interpreter, Icurstackinfo));
    field("interpreterCurrentCOP", offsetof(struct interpreter, Icurcop));
    field("stackInfoContextStack", offsetof(PERL_SI, si_cxstack));
    field("stackInfoPrevious", offsetof(PERL_SI, si_prev));
    field("stackInfoContextIndex", offsetof(PERL_SI, si_cxix));
    field("stackInfoType", offsetof(PERL_SI, si_type));
    field("contextSize", sizeof(PERL_CONTEXT));
    field("contextType", offsetof(PERL_CONTEXT, cx_type));
    field("contextOldCOP", offsetof(PERL_CONTEXT, blk_oldcop));
    field("contextSubCV", offsetof(PERL_CONTEXT, blk_sub.cv));
    field("contextSubReturnOp", offsetof(PERL_CONTEXT, blk_sub.retop));
    field("copLine", offsetof(COP, cop_line));
    field("copFile", offsetof(COP, cop_file));
    field("svBody", offsetof(struct sv, sv_any));
    field("svFlags", offsetof(struct sv, sv_flags));
    field("cvStash", offsetof(XPVCV, xcv_stash));
    field("cvGV", offsetof(XPVCV, xcv_gv_u));
    field("cvFile", offsetof(XPVCV, xcv_file));
    field("cvFlags", offsetof(XPVCV, xcv_flags));
    field("gvName", offsetof(XPVGV, xiv_u.xivu_namehek));
    field("gvStash", offsetof(XPVGV, xnv_u.xgv_stash));
    field("hvAux", offsetof(struct xpvhv_with_aux, xhv_aux));
    field("auxName", offsetof(struct xpvhv_aux, xhv_name_u));
    field("auxNameCount", offsetof(struct xpvhv_aux, xhv_name_count));
    field("hekLength", offsetof(struct hek, hek_len));
    printf("            hekKey: %zu\n", offsetof(struct hek, hek_key));
    printf("        ),\n");
    return 0;
}
