#include "dialogs/wrappedlabel.h"

#include <QEvent>
#include <QFontMetrics>
#include <QLabel>

#include <algorithm>

namespace leantune {

namespace {

int wrappedHeight(const QLabel *label, int width)
{
    return label->isHidden() || label->text().isEmpty()
        ? 0
        : label->heightForWidth(std::max(width, 100));
}

// Keeps a label's reserved lines right once layouts give it its real width (before the dialog is
// shown, widths are only estimates).
class WrappedLinesKeeper : public QObject {
public:
    explicit WrappedLinesKeeper(QLabel *label)
        : QObject(label)
    {
        setObjectName(QStringLiteral("wrappedLinesKeeper"));
        label->installEventFilter(this);
    }

    bool eventFilter(QObject *watched, QEvent *event) override
    {
        if (event->type() == QEvent::Resize) {
            auto *label = static_cast<QLabel *>(watched);
            const int height = wrappedHeight(label, label->width());
            if (height != label->minimumHeight())
                label->setMinimumHeight(height);
        }
        return false;
    }
};

} // namespace

void reserveWrappedLines(QLabel *label)
{
    if (!label->findChild<QObject *>(
            QStringLiteral("wrappedLinesKeeper"), Qt::FindDirectChildrenOnly)) {
        new WrappedLinesKeeper(label);
        // Top-aligned: while a layout settles, extra height is space below the text.
        label->setAlignment((label->alignment() & ~Qt::AlignVertical_Mask) | Qt::AlignTop);
    }
    // Not laid out yet (the dialog not shown): nothing to reserve until a layout gives the label
    // its width, when the keeper reserves its lines.
    const int width = label->testAttribute(Qt::WA_Resized) ? label->width() : 0;
    if (width <= 0) {
        label->setMinimumHeight(0);
        return;
    }
    label->setMinimumHeight(wrappedHeight(label, width));
}

} // namespace leantune
