#pragma once
// The one way widgets include QCustomPlot. The project builds with QT_NO_KEYWORDS (LibTorch's
// headers clash with Qt's keyword macros), but qcustomplot.h is written with `signals:` and
// `foreach`; give it those spellings for the include only. No file that includes this header may
// include torch.
#ifndef signals
#define signals Q_SIGNALS
#define LEANTUNE_QCP_UNDEF_SIGNALS
#endif
#ifndef foreach
#define foreach Q_FOREACH
#define LEANTUNE_QCP_UNDEF_FOREACH
#endif
#include <qcustomplot.h>
#ifdef LEANTUNE_QCP_UNDEF_SIGNALS
#undef signals
#undef LEANTUNE_QCP_UNDEF_SIGNALS
#endif
#ifdef LEANTUNE_QCP_UNDEF_FOREACH
#undef foreach
#undef LEANTUNE_QCP_UNDEF_FOREACH
#endif
