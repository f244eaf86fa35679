#include "widgets/dialogs/wrappedlabel.h"

#include <QEvent>
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

// Reserves a label's lines again whenever a layout changes its width (the first time included: a
// label set before its dialog is shown has no width yet).
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
